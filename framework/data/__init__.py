"""Data: sources and their splits, packaged data sets, token caches, packing, bucketing, streaming.

Import from the submodules (`framework.data.pipeline.build_datasets`, `framework.data.fetch.fetch_package_file`);
this package imports nothing, so `framework.data.fetch` stays light (no numpy, no torch).
"""
