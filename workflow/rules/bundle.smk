rule resolved_config:
    output:
        "results/config.resolved.yaml",
    log:
        "results/logs/config.resolved.log",
    conda:
        "../../envs/imgbench.yaml"
    params:
        imgbench=IMGBENCH,
        config=get_resolved_config,
    shell:
        "{params.imgbench} write-config --json {params.config:q} --output {output:q} > {log:q} 2>&1"


rule bundle:
    input:
        config="results/config.resolved.yaml",
        tables=expand(
            "results/{experiment}/{table}.csv", experiment=EXPERIMENTS, table=TABLES
        ),
        metadata=expand("results/{experiment}/metadata.json", experiment=EXPERIMENTS),
        slides=expand("results/{experiment}/slides.html", experiment=EXPERIMENTS),
        reference=get_reference_outputs,
        figures=expand(
            "results/{experiment}/figures/{figure}.{ext}",
            experiment=EXPERIMENTS,
            figure=FIGURES,
            ext=["png", "svg"],
        ),
    output:
        "results/bundle.zip",
    log:
        "results/logs/bundle.log",
    conda:
        "../../envs/imgbench.yaml"
    params:
        imgbench=IMGBENCH,
        experiments=EXPERIMENTS,
        flags=get_bundle_flags,
    shell:
        "{params.imgbench} bundle --results-root results --experiments {params.experiments:q}"
        " --config {input.config:q} {params.flags} --output {output:q} > {log:q} 2>&1"
