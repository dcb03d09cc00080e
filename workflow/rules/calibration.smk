# Known-answer cells (sleep, spin_python, spin_native) against the speedup physics allows;
# only for experiments that run such a task, e.g. config/presets/calibrate.yaml.
rule calibration:
    input:
        speedup=rules.aggregate.output.speedup,
    output:
        csv=report(
            f"{RESULTS}/{{experiment}}/calibration.csv",
            caption="../report/calibration.rst",
            category="{experiment}",
            subcategory="Tables",
            labels={"experiment": "{experiment}", "table": "calibration"},
        ),
        json=f"{RESULTS}/{{experiment}}/calibration.json",
    log:
        f"{RESULTS}/logs/{{experiment}}/calibration.log",
    conda:
        "../../envs/imgbench.yaml"
    params:
        imgbench=IMGBENCH,
        directory=PLAN.experiment_dir,
    shell:
        "{params.imgbench} calibration --results-dir {params.directory:q} > {log:q} 2>&1"
