"""Evaluation of a build against truth: alignment links, ROI recall, report statements (may import connectors)."""
