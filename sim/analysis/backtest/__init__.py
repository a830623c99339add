"""Rolling-origin hindcasts: calibrate as of earlier dates, forecast the figures published later, score them."""
