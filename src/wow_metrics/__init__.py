"""wow-metrics: EHR work-outside-of-work metrics from audit logs."""
__version__ = "0.1.0"
