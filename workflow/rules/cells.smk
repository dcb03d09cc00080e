# One round of a cell. It takes every core that Snakemake was given, so that no other job
# (another cell, a dataset, a figure) ever runs beside a timed repetition; its priority puts
# it in its place in the seeded, round-by-round order (imgbench.workflow).
rule cell:
    input:
        dataset=PLAN.cell_dataset,
        # The environment of the experiment's interpreter (config key pythons), if it names one.
        python_env=PLAN.cell_python_env,
    output:
        cell=PLAN.cell_result,
    log:
        PLAN.cell_log,
    benchmark:
        PLAN.cell_benchmark
    priority: PLAN.cell_priority
    conda:
        "../../envs/imgbench.yaml"
    threads: workflow.cores
    params:
        imgbench=PLAN.cell_imgbench(IMGBENCH),
        args=PLAN.cell_args,
        config_hash=PLAN.cell_config_hash,
    shell:
        "{params.imgbench} run-cell {params.args} --config-hash {params.config_hash:q}"
        " --dataset {input.dataset:q} --output {output.cell:q} > {log:q} 2>&1"
