# A study preset names the published numbers it re-runs; they are set beside ours here.
rule reference:
    input:
        reference=PLAN.reference or [],
        timings=expand(rules.aggregate.output.timings, experiment=EXPERIMENTS),
        metadata=expand(rules.aggregate.output.metadata, experiment=EXPERIMENTS),
    output:
        html=report(
            f"{RESULTS}/reference/slides.html",
            caption="../report/reference.rst",
            category="Published vs measured",
            labels={"file": "slides.html"},
        ),
        csv=f"{RESULTS}/reference/comparison.csv",
    log:
        f"{RESULTS}/logs/reference.log",
    conda:
        "../../envs/imgbench.yaml"
    params:
        imgbench=IMGBENCH,
        results=PLAN.run_dir,
    shell:
        "{params.imgbench} reference --reference {input.reference:q}"
        " --results-root {params.results:q} --output-html {output.html:q}"
        " --output-csv {output.csv:q} > {log:q} 2>&1"
