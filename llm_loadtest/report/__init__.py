"""Reading stored results: how figures are written, and the regression gate's comparison."""
