"""Everything that touches the database lives in this package; SQL appears nowhere else."""
