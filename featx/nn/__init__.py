"""Pure torch modules, one file per model family (no I/O, no Datasets, no pipelines)."""
