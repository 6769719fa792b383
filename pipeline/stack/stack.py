"""Which services make up the local stack, built from configuration.

A section with `managed = false` contributes no process, only an external
health check, so `status` covers every stage whether it runs here or not.
"""

from __future__ import annotations

from pipeline.config import Config
from pipeline.stack.layout import Layout
from pipeline.stack.service import External, Service
from pipeline.stack.supervisor import Supervisor


def build(config: Config) -> Supervisor:
    from pipeline.stack.services import aws, cdc, druid, flink, jobs, kafka, postgres, redis, smtp, superset, workload

    layout = Layout.from_config(config)
    layout.ensure()
    services: list[Service] = []
    externals: list[External] = []

    def add(managed: bool, make_services, external: External) -> None:
        if managed:
            made = make_services()
            services.extend(made if isinstance(made, list) else [made])
        else:
            externals.append(external)

    pg = config.postgres
    add(pg.managed, lambda: postgres.service(config, layout),
        External("postgres", f"{pg.host}:{pg.port}", lambda: postgres.health(config)))
    add(config.redis.managed, lambda: redis.service(config, layout),
        External("redis", f"{config.redis.host}:{config.redis.port}",
                 lambda: redis.health(config)))
    add(config.kafka.managed, lambda: kafka.service(config, layout),
        External("kafka", config.kafka.bootstrap, lambda: kafka.health(config.kafka)))
    add(config.aws.managed, lambda: aws.service(config, layout),
        External("aws", config.aws.endpoint or f"AWS {config.aws.region}", lambda: aws.health(config.aws)))
    add(config.smtp.managed, lambda: smtp.service(config, layout),
        External("smtp", f"{config.smtp.host}:{config.smtp.port}", lambda: smtp.health(config)))
    add(config.druid.managed, lambda: druid.services(config, layout),
        External("druid", config.druid.broker, lambda: druid.health(config.druid)))
    add(config.superset.managed, lambda: superset.services(config, layout),
        External("superset", config.superset.base_url, lambda: superset.health(config.superset)))
    externals.append(flink.stage(config, layout))
    if config.cdc.run_in_up:
        services.append(cdc.service(config, layout))
    if config.workload.run_in_up:
        services.append(workload.service(config, layout))
    if config.flink.run_in_up:
        services.extend(jobs.services(config, layout))
    if config.druid.lookups_in_up and config.cdc.run_in_up and config.druid.managed:
        services.append(jobs.lookups_service(config, layout))
    return Supervisor(layout, services, externals, default_timeout_s=config.stack.start_timeout_s)
