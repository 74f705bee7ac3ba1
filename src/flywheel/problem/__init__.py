"""Problem management: problems, root-cause records, known errors, fix routing."""
