"""Moyai: shared municipal cloud (自治体クラウド)."""
