"""Downstream evaluation: fine-tuning / linear probe and nearest-neighbour retrieval."""
