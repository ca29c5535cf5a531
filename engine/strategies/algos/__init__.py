"""Execution algos: TWAP, VWAP, POV, iceberg and the freeze-quantity slicer, each running parent
a strategy on the kernel (``desk``), its children through the one gate."""
