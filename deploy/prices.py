"""The list prices `make cost` bills with, each with its source and the day it was read.

Every field of ``Prices`` is a flag of ``python -m deploy.cost``: ``--price-gb-second-x86 0.00002`` overrides
``gb_second_x86``. The free allowances below are part of the price lists too, but fixed.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Prices:
    # AWS Lambda, US East (N. Virginia), first tier: https://aws.amazon.com/lambda/pricing/ (2026-11-25).
    gb_second_x86: float = 0.0000166667
    gb_second_arm: float = 0.0000133334
    million_requests: float = 0.20
    # SnapStart for Python, same page (2026-12-02): the cache per GB-second while a version's snapshot exists,
    # and a charge per GB each time an instance is restored. Provisioned concurrency, per GB-second provisioned.
    snapstart_cache_gb_second: float = 0.0000015046
    snapstart_restore_gb: float = 0.0001397998
    provisioned_gb_second_x86: float = 0.0000041667
    provisioned_gb_second_arm: float = 0.0000033334
    # API Gateway, first tier: https://aws.amazon.com/api-gateway/pricing/ (2026-11-25). A REST API call is one
    # call whatever its size; an HTTP API request is metered in 512 KB steps.
    million_rest_calls: float = 3.50
    million_http_calls: float = 1.00
    # Step Functions, https://aws.amazon.com/step-functions/pricing/, and S3 Standard,
    # https://aws.amazon.com/s3/pricing/ (2026-12-02).
    standard_transition: float = 0.000025
    express_million_requests: float = 1.00
    express_gb_second: float = 0.00001667
    s3_thousand_gets: float = 0.0004
    s3_thousand_lists: float = 0.005
    s3_thousand_puts: float = 0.005
    # Amazon CloudWatch, US East (N. Virginia), first tier: https://aws.amazon.com/cloudwatch/pricing/
    # (2026-12-04): a custom metric per month (each name and dimension values: the answers' log lines make them),
    # a standard-resolution alarm per metric it reads, a dashboard per month, and log ingestion per GB.
    custom_metric_month: float = 0.30
    alarm_metric_month: float = 0.10
    dashboard_month: float = 3.00
    logs_ingested_gb: float = 0.50
    # Google Cloud Run functions, request-based billing, tier 1 regions: https://cloud.google.com/run/pricing
    # (2025).
    google_vcpu_second: float = 0.000024
    google_gib_second: float = 0.0000025
    google_million_requests: float = 0.40
    # Azure Functions Flex Consumption, on demand, East US:
    # https://azure.microsoft.com/pricing/details/functions/ (2025).
    azure_gb_second: float = 0.000026
    azure_million_executions: float = 0.40

    def gb_second(self, architecture: str) -> float:
        return self.gb_second_arm if architecture == "arm64" else self.gb_second_x86

    def provisioned_gb_second(self, architecture: str) -> float:
        return self.provisioned_gb_second_arm if architecture == "arm64" else self.provisioned_gb_second_x86

    def million_api_calls(self, api: str) -> float:
        return {"rest": self.million_rest_calls, "http": self.million_http_calls, "none": 0.0}[api]


PRICES = Prices()
APIS = ("rest", "http", "none")

# Free allowances. Lambda's is monthly and does not expire; API Gateway's lasts 12 months, so it is left out.
FREE_GB_SECONDS = 400_000
FREE_REQUESTS = 1_000_000
GOOGLE_FREE_VCPU_SECONDS = 180_000
GOOGLE_FREE_GIB_SECONDS = 360_000
GOOGLE_FREE_REQUESTS = 2_000_000
CLOUDWATCH_FREE_METRICS = 10  # an account's, shared with everything else it runs
CLOUDWATCH_FREE_ALARM_METRICS = 10
CLOUDWATCH_FREE_DASHBOARDS = 3
AZURE_FREE_GB_SECONDS = 100_000
AZURE_FREE_EXECUTIONS = 250_000
