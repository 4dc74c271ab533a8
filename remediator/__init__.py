"""Ansible-style remediation of AWS IAM security baselines."""

__version__ = "0.1.0"
