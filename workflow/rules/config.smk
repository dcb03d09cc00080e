# The config every stage after the cells reads: resolved (defaults filled), written once.
rule resolved_config:
    output:
        f"{RESULTS}/config.resolved.yaml",
    log:
        f"{RESULTS}/logs/config.resolved.log",
    conda:
        "../../envs/imgbench.yaml"
    params:
        imgbench=IMGBENCH,
        config=get_resolved_config,
    shell:
        "{params.imgbench} write-config --json {params.config:q} --output {output:q} > {log:q} 2>&1"
