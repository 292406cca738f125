"""Views of an evaluation: tables, plain-language text, Altair charts, the dashboard's
view-model and the offline meeting report."""
