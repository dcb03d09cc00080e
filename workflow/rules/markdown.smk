# The Markdown report links the figures (PNG and SVG) by relative paths: it is written
# after them, and after the deck, so that a run's last per-experiment step is the report.
rule markdown:
    input:
        summary=rules.aggregate.output.summary,
        speedup=rules.aggregate.output.speedup,
        efficiency=rules.aggregate.output.efficiency,
        comparisons=rules.aggregate.output.comparisons,
        recommendations=rules.aggregate.output.recommendations,
        metadata=rules.aggregate.output.metadata,
        figures=rules.figures.output.png + rules.figures.output.svg,
        slides=rules.slides.output[0],
    output:
        f"{RESULTS}/{{experiment}}/report.md",
    log:
        f"{RESULTS}/logs/{{experiment}}/markdown.log",
    conda:
        "../../envs/imgbench.yaml"
    params:
        imgbench=IMGBENCH,
        directory=PLAN.experiment_dir,
    shell:
        "{params.imgbench} markdown --results-dir {params.directory:q} --output {output:q} > {log:q} 2>&1"
