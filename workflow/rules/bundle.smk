rule bundle:
    input:
        config=rules.resolved_config.output[0],
        tables=[
            expand(rules.aggregate.output[table], experiment=EXPERIMENTS)
            for table in TABLES
        ],
        metadata=expand(rules.aggregate.output.metadata, experiment=EXPERIMENTS),
        slides=expand(rules.slides.output[0], experiment=EXPERIMENTS),
        reports=expand(rules.markdown.output[0], experiment=EXPERIMENTS),
        reference=get_reference_outputs,
        figures=expand(
            rules.figures.output.png + rules.figures.output.svg, experiment=EXPERIMENTS
        ),
    output:
        f"{RESULTS}/bundle.zip",
    log:
        f"{RESULTS}/logs/bundle.log",
    conda:
        "../../envs/imgbench.yaml"
    params:
        imgbench=IMGBENCH,
        results=PLAN.run_dir,
        experiments=EXPERIMENTS,
        flags=PLAN.bundle_flags,
    shell:
        "{params.imgbench} bundle --results-root {params.results:q}"
        " --experiments {params.experiments:q} --config {input.config:q} {params.flags}"
        " --output {output:q} > {log:q} 2>&1"
