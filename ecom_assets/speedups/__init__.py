"""Speed machinery shared by several stages, fenced from the analytics: lookups in sorted numpy arrays,
the exact ALS top-N search, and constants shipped to the Python workers by file. Each module names
the benchmark that justifies it and is tested against the plain form it replaces."""
