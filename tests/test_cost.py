"""make cost: each bill worked by hand from the price lists, and the tables the docs show as the command prints
them."""

import contextlib
import io
import json
import re
import shlex
import subprocess
import sys
from dataclasses import fields

import pytest

from deploy import cost
from deploy.cost import (
    azure_bill,
    catalog_bills,
    google_bill,
    monthly_bill,
    platform_bills,
    snapstart_break_even,
    start_bill,
)
from deploy.prices import Prices
from tests.conftest import ROOT


def test_the_courses_example_bill_worked_by_hand():
    # 1,000,000 x 2 s x 1 GB = 2,000,000 GB-s; 400,000 free; 1,600,000 x $0.0000166667 = $26.67.
    bill = monthly_bill(1024, 2000, 1_000_000)
    assert bill.compute == pytest.approx(26.66672)
    assert bill.requests == 0.0  # the first million requests are free
    assert bill.api == pytest.approx(3.50)
    # Without the free tier: $33.33 compute and $0.20 for the requests.
    bare = monthly_bill(1024, 2000, 1_000_000, api="none", free_tier=False)
    assert (bare.compute, bare.requests, bare.api) == (pytest.approx(33.3334), pytest.approx(0.20), 0.0)


def test_a_catalogs_bill_on_both_paths_worked_by_hand():
    """A million pictures at 60 ms and 1,769 MB: 103,650 GB-seconds of Lambda either way."""
    api, batched = catalog_bills(1_000_000, 60, 1769, batch_size=20).values()
    gb_seconds = 1_000_000 * 0.060 * 1769 / 1024
    assert api.lambda_ == pytest.approx(gb_seconds * 0.0000166667 + 0.20)
    assert api.api == pytest.approx(3.50) and api.step_functions == api.s3 == 0
    batches = 50_000  # of 20, each 1.2 s
    assert batched.lambda_ == pytest.approx(gb_seconds * 0.0000166667 + batches / 1e6 * 0.20)
    transitions, express = (batches + 4) * 0.000025, batches / 1e6 * 1.00 + batches * 1.2 * (64 / 1024) * 0.00001667
    assert batched.step_functions == pytest.approx(transitions + express)
    assert batched.s3 == pytest.approx(1_000_000 / 1000 * 0.0004 + 1 * 0.005 + 3 / 1000 * 0.005)
    assert batched.api == 0 and batched.total < api.total


@pytest.mark.process
def test_the_catalog_pages_price_table_is_what_make_cost_prints():
    page = (ROOT / "docs" / "catalog.md").read_text()
    printed = subprocess.run([sys.executable, "-m", "deploy.cost", "--catalog", "1000000", "--duration-ms", "13"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert printed.strip() in page


def test_snapstarts_month_worked_by_hand():
    """1,769 MB, 20,000 restores billed 100 ms each against inits of 130 ms: a month's cache, a charge a restore.
    A restore is billed for its Billed Restore Duration (loading the runtime and the after-restore hooks), not the
    snapshot's restore (https://docs.aws.amazon.com/lambda/latest/dg/snapstart-monitoring.html)."""
    gb = 1769 / 1024
    on, off = start_bill(1769, 20_000, snapstart=True), start_bill(1769, 20_000)
    assert on.cache == pytest.approx(gb * 30 * 86400 * 0.0000015046)  # about $6.74 for the one live version
    assert on.restores == pytest.approx(20_000 * gb * 0.0001397998)
    assert on.starts == pytest.approx(20_000 * 0.1 * gb * 0.0000166667)
    init = cost.MEASURED["init_ms"] / 1000  # what benchmarks.startup wrote last: make cost's default
    assert off.starts == pytest.approx(20_000 * init * gb * 0.0000166667) and off.cache == off.restores == 0
    assert start_bill(1769, 20_000, "arm64", snapstart=True).starts < on.starts
    paying_init_ms, provisioned_above = snapstart_break_even(1769)
    assert paying_init_ms == pytest.approx(100 + 1000 * 0.0001397998 / 0.0000166667)
    one_warm_instance = gb * 30 * 86400 * 0.0000041667
    per_restore = gb * 0.0001397998 + (0.1 - init) * gb * 0.0000166667
    assert provisioned_above == pytest.approx((one_warm_instance - on.cache) / per_restore)


def test_billed_duration_rounds_up_to_the_millisecond_and_arm_is_cheaper():
    assert monthly_bill(2048, 30.2, 10_000_000, free_tier=False).compute == pytest.approx(
        10_000_000 * 0.031 * 2 * 0.0000166667)
    arm = monthly_bill(2048, 31, 5_000_000, "arm64", free_tier=False)
    assert arm.compute == pytest.approx(5_000_000 * 0.031 * 2 * 0.0000133334)
    assert arm.total < monthly_bill(2048, 31, 5_000_000, free_tier=False).total


def test_google_bills_cpu_and_memory_by_the_100_ms_step_after_its_free_tier():
    # 10 M requests of 25 ms are billed as 100 ms each: 1 M vCPU-seconds and 1 M GiB-seconds.
    bill = google_bill(25, 10_000_000)
    assert bill.compute == pytest.approx((1_000_000 - 180_000) * 0.000024 + (1_000_000 - 360_000) * 0.0000025)
    assert bill.requests == pytest.approx(8 * 0.40) and bill.api == 0.0
    assert google_bill(101, 1000, free_tier=False).compute == pytest.approx(1000 * 0.2 * (0.000024 + 0.0000025))


def test_azure_flex_bills_at_least_a_second_an_execution_after_its_free_grant():
    bill = azure_bill(25, 1_000_000)  # 1 M executions, each billed 1 s at 2 GB
    assert bill.compute == pytest.approx((2_000_000 - 100_000) * 0.000026)
    assert bill.requests == pytest.approx(0.75 * 0.40)
    assert azure_bill(1500.2, 1000, free_tier=False).compute == pytest.approx(1000 * 1.501 * 2 * 0.000026)


def test_the_platform_comparison_bills_each_platform_by_its_own_rules():
    bills = platform_bills(2000, 1_000_000, free_tier=False)
    assert [bill.total for bill in bills.values()] == [
        pytest.approx(monthly_bill(1769, 2000, 1_000_000, free_tier=False).total),
        pytest.approx(google_bill(2000, 1_000_000, free_tier=False).total),
        pytest.approx(azure_bill(2000, 1_000_000, free_tier=False).total)]
    assert len({round(bill.total, 6) for bill in bills.values()}) == 3


@pytest.mark.process
def test_the_cost_commands_platform_table_prices_the_api_asked_for_at_the_first_tables_size():
    result = subprocess.run([sys.executable, "-m", "deploy.cost", "--api", "http"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    lambda_rows = [line for line in result.stdout.splitlines()
                   if line.startswith("| 1769 MB") and "x86_64" in line or "AWS Lambda" in line]
    assert "AWS Lambda 1769 MB + API Gateway (HTTP)" in lambda_rows[1]
    totals = [line.split(" | ")[-2] for line in lambda_rows]
    assert totals[0] == totals[1]  # one AWS total on the screen, not two


@pytest.mark.process
def test_the_cost_command_refuses_what_lambda_does_not_allow():
    for arguments, allowed in ((["--requests", "0"], "at least 1"), (["--duration-ms", "-5"], "900,000 ms"),
                               (["--memory", "64"], "128 to 10,240"), (["--memory", "1.5"], "128 to 10,240")):
        result = subprocess.run([sys.executable, "-m", "deploy.cost", *arguments], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and allowed in result.stderr.splitlines()[-1], (arguments, result.stderr)
        assert "Traceback" not in result.stderr


def test_an_http_api_meters_each_started_512_kb_of_a_request_as_a_call():
    """API Gateway's pricing page: HTTP API requests are metered in 512 KB increments; a REST call is one call."""
    assert monthly_bill(1769, 25, 1_000_000, api="http", request_kb=1).api == pytest.approx(1.00)
    assert monthly_bill(1769, 25, 1_000_000, api="http", request_kb=512).api == pytest.approx(1.00)
    assert monthly_bill(1769, 25, 1_000_000, api="http", request_kb=600).api == pytest.approx(2.00)
    assert monthly_bill(1769, 25, 1_000_000, api="http", request_kb=4096).api == pytest.approx(8.00)
    assert monthly_bill(1769, 25, 1_000_000, api="rest", request_kb=4096).api == pytest.approx(3.50)


def printed(*arguments: str) -> str:
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        cost.main(list(arguments))
    return output.getvalue()


@pytest.mark.parametrize("price", [field.name for field in fields(Prices)])
def test_every_price_the_tool_uses_has_a_flag_that_changes_what_it_prints(price):
    flag = f"--price-{price.replace('_', '-')}"
    for mode in ([], ["--catalog", "1000000", "--duration-ms", "60", "--api", "http"],
                 ["--api", "http", "--cold-starts", "20000", "--requests", "10000000"]):
        if printed(*mode) != printed(*mode, flag, "7"):  # 7: no price's default
            return
    pytest.fail(f"{flag} changes nothing make cost prints")


@pytest.mark.process
def test_the_monitoring_bill_counts_what_the_template_and_the_answers_make():
    """The metric, alarm and dashboard counts make cost prices, from the template and from real log lines."""
    import base64
    import json

    from samtranslator.yaml_helper import yaml_parse

    from tests.conftest import IMAGES, LABELS
    from tests.test_metrics import log_lines, proxy_event

    events = [proxy_event(base64.b64encode(path.read_bytes()).decode()) for path in sorted(IMAGES.glob("*.jpg"))]
    lines = [line for line in log_lines(*events) if "_aws" in line]
    metrics = {(directive["Namespace"], metric["Name"], tuple((d, line[d]) for d in dimensions))
               for line in lines for directive in line["_aws"]["CloudWatchMetrics"]
               for dimensions in directive["Dimensions"] for metric in directive["Metrics"]}
    predicted = {line["prediction"] for line in lines}
    assert len(metrics) == cost.SERVICE_METRICS + len(predicted)  # one Answers metric for each class answered
    assert len(LABELS) == 10
    for line in lines:
        names = [m["Name"] for d in line["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
        rest = {key: value for key, value in line.items() if key != "_aws" and key not in names}
        assert abs(len(json.dumps(line)) - len(json.dumps(rest)) - cost.METRIC_BYTES_PER_ANSWER) <= 15
    resources = yaml_parse((ROOT / "template.yaml").read_text())["Resources"].values()
    alarms = [r["Properties"] for r in resources if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert sum(1 if "MetricName" in a else sum("MetricStat" in m for m in a["Metrics"]) for a in alarms) == \
        cost.ALARM_METRICS
    assert sum(r["Type"] == "AWS::CloudWatch::Dashboard" for r in resources) == cost.DASHBOARDS


def test_the_monitoring_bill_worked_by_hand():
    listed = cost.monitoring_bill(2_000_000, 10, free_tier=False)
    assert (listed.metrics, listed.alarms, listed.dashboard) == pytest.approx((19 * 0.30, 6 * 0.10, 3.00))
    assert listed.logs == pytest.approx(2_000_000 * 920 / 1e9 * 0.50)
    free = cost.monitoring_bill(2_000_000, 10)
    assert (free.metrics, free.alarms, free.dashboard, free.logs) == pytest.approx((9 * 0.30, 0, 0, listed.logs))


COST_OUTPUT = re.compile(r"```\n\$ make cost(?: ARGS=\"([^\"]*)\")?\n(.*?)```", re.DOTALL)


@pytest.mark.process
def test_every_make_cost_output_the_docs_show_is_what_it_prints():
    """Each block that shows `$ make cost ...` holds what that command prints now, "..." marking a cut."""
    shown = [(page.name, match) for page in sorted((ROOT / "docs").glob("*.md"))
             for match in COST_OUTPUT.finditer(page.read_text())]
    assert len(shown) >= 5
    for page, match in shown:
        printed = subprocess.run([sys.executable, "-m", "deploy.cost", *shlex.split(match.group(1) or "")], cwd=ROOT,
                                 capture_output=True, text=True, check=True).stdout
        for part in match.group(2).split("...\n"):
            assert part.strip("\n") in printed, (page, match.group(1), part)


def test_make_costs_defaults_are_this_functions_own_measured_figures():
    """Not the course's 2,000 ms: what benchmarks.memory and benchmarks.startup wrote last."""
    measured = json.loads((ROOT / "deploy" / "measured.json").read_text())
    arguments = cost.parser().parse_args([])
    assert arguments.duration_ms == [measured["request_ms"]] and arguments.init_ms == measured["init_ms"]
