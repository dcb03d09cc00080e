# The resolved config tells aggregate which cells to expect: any without a result is listed
# in metadata.json and on the deck instead of being silently absent.
rule aggregate:
    input:
        cells=PLAN.experiment_cells,
        config=rules.resolved_config.output[0],
    output:
        timings=f"{RESULTS}/{{experiment}}/timings.csv",
        summary=report(
            f"{RESULTS}/{{experiment}}/summary.csv",
            caption="../report/summary.rst",
            category="{experiment}",
            subcategory="Tables",
            labels={"experiment": "{experiment}", "table": "summary"},
        ),
        speedup=report(
            f"{RESULTS}/{{experiment}}/speedup.csv",
            caption="../report/speedup.rst",
            category="{experiment}",
            subcategory="Tables",
            labels={"experiment": "{experiment}", "table": "speedup"},
        ),
        efficiency=report(
            f"{RESULTS}/{{experiment}}/efficiency.csv",
            caption="../report/efficiency.rst",
            category="{experiment}",
            subcategory="Tables",
            labels={"experiment": "{experiment}", "table": "efficiency"},
        ),
        amdahl=f"{RESULTS}/{{experiment}}/amdahl.csv",
        comparisons=f"{RESULTS}/{{experiment}}/comparisons.csv",
        recommendations=report(
            f"{RESULTS}/{{experiment}}/recommendations.csv",
            caption="../report/recommendations.rst",
            category="{experiment}",
            subcategory="Tables",
            labels={"experiment": "{experiment}", "table": "recommendations"},
        ),
        # What limits each cell, the numbers that decided it, and each pool's break-even.
        diagnosis=f"{RESULTS}/{{experiment}}/diagnosis.csv",
        metadata=f"{RESULTS}/{{experiment}}/metadata.json",
    log:
        f"{RESULTS}/logs/{{experiment}}/aggregate.log",
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
