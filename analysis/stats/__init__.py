"""Pure statistical routines (numpy/scipy/pandas only, no Django): see ``analysis.stats.mmrm``."""
