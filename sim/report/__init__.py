"""The HTML report (tokensim report): each scenario's results gathered, the sections, the page, its screenshot."""
