"""Alerts: rules the trader sets on prices and P&L, each firing once when its condition comes true."""
