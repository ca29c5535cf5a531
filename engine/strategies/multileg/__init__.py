"""Multileg portfolios: legs, their strikes, execution, targets and stops."""
