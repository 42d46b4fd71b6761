"""Registry service (名录库): agencies, practitioners, annual reports, credit records, and the
public register."""
