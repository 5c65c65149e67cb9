"""Admin management of customer records, every change audited."""
