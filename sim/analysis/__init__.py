"""Reading results and scoring the method: quantile and claim tables, comparisons, claims in words, backtests, sensitivity."""
