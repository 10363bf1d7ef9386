"""The study report: one self-contained HTML file per study, read from its parent MLflow run
(``medseglab report --html``; docs/REPORT.md). ``sections`` declares what it shows, ``html`` renders,
``stage`` reads the run and writes the file."""
