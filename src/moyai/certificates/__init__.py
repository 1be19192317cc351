"""証明書 (certificates): 住民票の写し and 除票の写し, rendered, signed and verifiable offline."""
