"""The broker contract suite: the same behaviours, run against every broker the desk trades on."""
