"""Models of this domain app; see ../DESIGN.md section 2."""
