rule slides:
    input:
        summary=rules.aggregate.output.summary,
        speedup=rules.aggregate.output.speedup,
        efficiency=rules.aggregate.output.efficiency,
        amdahl=rules.aggregate.output.amdahl,
        comparisons=rules.aggregate.output.comparisons,
        recommendations=rules.aggregate.output.recommendations,
        metadata=rules.aggregate.output.metadata,
        figures=rules.figures.output.png,
        calibration=get_calibration,
        # The same grid under other interpreters (config key pythons): their side-by-side slide.
        interpreters=PLAN.interpreter_tables,
    output:
        report(
            f"{RESULTS}/{{experiment}}/slides.html",
            caption="../report/slides.rst",
            category="{experiment}",
            subcategory="Slide deck",
            labels={"experiment": "{experiment}", "file": "slides.html"},
        ),
    log:
        f"{RESULTS}/logs/{{experiment}}/slides.log",
    conda:
        "../../envs/imgbench.yaml"
    params:
        imgbench=IMGBENCH,
        directory=PLAN.experiment_dir,
    shell:
        "{params.imgbench} slides --results-dir {params.directory:q} --output {output:q} > {log:q} 2>&1"
