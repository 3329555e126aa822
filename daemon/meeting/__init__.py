"""NHN's management meetings: the report that goes through every open case and evaluates the
closed ones (`report.py` gathers it, `chart.py` draws it, `formats.py` writes HTML, Markdown
and CSV), and the digest that mails it on a schedule (`daemon/schedule/digest.py`)."""
