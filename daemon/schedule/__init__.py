"""The clock: APScheduler 3.x used only as a timer. Due times and "last sent" live in our tables."""
