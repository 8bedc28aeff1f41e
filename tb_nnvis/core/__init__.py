"""The computation behind the dashboards, usable without TensorBoard."""
