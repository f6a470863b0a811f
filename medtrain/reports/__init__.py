"""Reports: plots and comparison tables, written atomically."""
