# The resolved config tells aggregate which cells to expect: any without a result is listed
# in metadata.json and on the deck instead of being silently absent.
rule aggregate:
    input:
        cells=PLAN.experiment_cells,
        config=rules.resolved_config.output[0],
    output:
        timings="results/{experiment}/timings.csv",
        summary=report(
            "results/{experiment}/summary.csv",
            caption="../report/summary.rst",
            category="{experiment}",
            subcategory="Tables",
            labels={"experiment": "{experiment}", "table": "summary"},
        ),
        speedup=report(
            "results/{experiment}/speedup.csv",
            caption="../report/speedup.rst",
            category="{experiment}",
            subcategory="Tables",
            labels={"experiment": "{experiment}", "table": "speedup"},
        ),
        efficiency=report(
            "results/{experiment}/efficiency.csv",
            caption="../report/efficiency.rst",
            category="{experiment}",
            subcategory="Tables",
            labels={"experiment": "{experiment}", "table": "efficiency"},
        ),
        amdahl="results/{experiment}/amdahl.csv",
        comparisons="results/{experiment}/comparisons.csv",
        recommendations=report(
            "results/{experiment}/recommendations.csv",
            caption="../report/recommendations.rst",
            category="{experiment}",
            subcategory="Tables",
            labels={"experiment": "{experiment}", "table": "recommendations"},
        ),
        metadata="results/{experiment}/metadata.json",
    log:
        "results/logs/{experiment}/aggregate.log",
    conda:
        "../../envs/imgbench.yaml"
    params:
        imgbench=IMGBENCH,
        directory=PLAN.experiment_dir,
        description=PLAN.experiment_description,
    shell:
        # The cells are read from the directory, not listed: a grid of 2,000 cells would
        # exceed the kernel's 128 KiB limit on one argument.
        "{params.imgbench} aggregate --results-dir {params.directory:q} --config {input.config:q}"
        " --experiment={wildcards.experiment:q} --output-dir {params.directory:q}"
        " --description={params.description:q} > {log:q} 2>&1"
