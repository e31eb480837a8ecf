"""Traffic costs from CSV and the command line: validated per row, stored per source and day."""

import io

import pytest
from django.core.management import CommandError, call_command

from yesladder.analytics.costs import CostError, read_csv
from yesladder.analytics.models import TrafficCost

pytestmark = pytest.mark.django_db
GOOD = "source,day,clicks,cost,currency\npartner,2026-11-02,500,120.50,USD\nfb,2026-11-02,80,40,\n"


def test_a_csv_file_is_stored_and_importing_it_again_changes_nothing(tmp_path):
    path = tmp_path / "costs.csv"
    path.write_text(GOOD)
    for _ in range(2):
        call_command("costs", "import", str(path), stdout=io.StringIO())
    stored = {(c.source, c.clicks, c.cost, c.currency) for c in TrafficCost.objects.all()}
    assert stored == {("partner", 500, 12050, "USD"), ("fb", 80, 4000, "USD")}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("source,day,clicks\n", "the header lacks cost"),
        ("source,day,clicks,cost\npartner,02/11/2026,5,1\n", "line 2: `day` must be a day"),
        ("source,day,clicks,cost\npartner,2026-11-02,-5,1\n", "line 2: `clicks` must be"),
        ("source,day,clicks,cost\npartner,2026-11-02,5,1.999\n", "line 2: `cost` must be"),
        ("source,day,clicks,cost\n,2026-11-02,5,1\n", "line 2: `source` is empty"),
        ("source,day,clicks,cost,currency\np,2026-11-02,5,1,dollars\n", "`currency` must be"),
    ],
)
def test_a_bad_row_names_its_line_and_column(text, message):
    with pytest.raises(CostError, match=message):
        read_csv(io.StringIO(text))


def test_nothing_is_half_imported(tmp_path):
    path = tmp_path / "costs.csv"
    path.write_text(GOOD + "bad,2026-13-01,1,1,USD\n")
    with pytest.raises(CommandError, match="line 4"):
        call_command("costs", "import", str(path))
    assert not TrafficCost.objects.exists()


def test_one_day_from_the_command_line():
    call_command("costs", "add", "partner", "2026-11-03", "300", "75", stdout=io.StringIO())
    assert TrafficCost.objects.get().cost == 7500
