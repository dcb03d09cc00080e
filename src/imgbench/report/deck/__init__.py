"""The slide deck of an experiment: one self-contained HTML file, drawn from result files only.

Everything the deck shows comes from the experiment's tables (see ``docs/results.md``),
``metadata.json`` and its figures. The figures are embedded once each as base64 ``data:``
URIs and the CSS and JS are inline, so the file opens anywhere without a network. The
templates live in ``imgbench/report/templates``; this package only turns tables into strings
and rows (numbers written by ``imgbench.words``), and Jinja2 escapes every value. Verdicts
are not computed here: each group's sentence comes from ``recommendations.csv``, and each
threat to validity is a fact of ``imgbench.analysis.threats`` that ``deck.threats`` words.

Results of several hosts are shown host by host (a group is a group on one host, as in the
tables), with two more slides that set the hosts side by side; results with missing cells
(``missing_cells`` in ``metadata.json``) get a slide that lists them.

``render.render_deck`` writes the deck; ``render.deck_context`` is what its template shows.
One module per group of slides: ``method`` (the question, the method slides), ``machine``
(machine, hosts, missing cells), ``tasks`` (each task's slides: a figure and a table per
image size), ``overview`` (recommendations, overhead), ``threats``, ``calibration`` (known
answers), ``appendix``; ``model`` is a table as the template shows it, ``cells`` one row per
cell, ``figures`` the embedded PNGs and the layout rule that keeps their text legible at
1280x720. Which figure goes on which slide is the figure registry's (``Figure.slide``).
"""
