"""Reading results and scoring the method: tables, comparisons, claims in words, backtests, sensitivity."""
