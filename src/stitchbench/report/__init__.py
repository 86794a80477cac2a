"""The report: views of a results table (pivots, statistics, findings) drawn as PNG figures
and one self-contained HTML file; publishing runs and stitches."""
