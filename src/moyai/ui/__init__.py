"""The counter (窓口) web UI: Django templates + htmx, in Japanese, on the registry's services."""
