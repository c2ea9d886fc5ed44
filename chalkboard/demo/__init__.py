"""Demo data: ``manage.py seed_demo``.

``specs`` says what a size holds; ``generator`` turns a spec, a seed and a day into batches of plain rows
(``cast``: the people; ``timetable`` and ``sessions``: the calendar; ``ledger``: earnings and payouts;
``scores``: assessments, progress and goals; ``activity``: the recent audit trail), computing money, rates,
percentages, levels and trends with the product's own functions (``earnings.services``,
``progress.scoring``); ``loader`` writes the rows (``COPY`` on PostgreSQL); ``services.demo_seed`` does
it all in one transaction, and ``manifest`` lists the users it made.
"""
