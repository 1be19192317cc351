"""Codes: check digits, 和暦 (Japanese era dates) and code tables loaded from data files.

Pure Python: no Django import here, so that every ``domain`` package may use it.
"""
