"""Everything that touches files: dataset indexes, decoding, the data module, synthetic videos."""
