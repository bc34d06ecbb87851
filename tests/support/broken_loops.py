"""Training loops with one mistake each, for the accuracy check's tests and its benchmark
(benchmarks/accuracy_check.py --table)."""

# Each broken loop is the reference `train` with one mistake; appended to the reference
# source, it replaces the reference definition.
LOOP_TEMPLATE = '''
def train(model, loader, criterion, optimizer, device, epochs=2):
    {setup}
    for _ in range(epochs):
        for inputs, labels in loader:
            inputs, labels = inputs.to(device), labels.to(device)
            {labels}
            {zero_grad}
            outputs = model(inputs)
            loss = {loss}
            if loss.requires_grad:
                loss.backward()
            {step}
    return {{"loss": [], "accuracy": []}}
'''
GOOD_LOOP = dict(setup="model.train()", labels="", zero_grad="optimizer.zero_grad()",
             loss="criterion(outputs, labels)", step="optimizer.step()")
BROKEN_LOOPS = {
    "no_zero_grad": dict(GOOD_LOOP, zero_grad=""),
    "no_optimizer_step": dict(GOOD_LOOP, step=""),
    "mse_on_class_indices": dict(GOOD_LOOP, loss="torch.nn.functional.mse_loss("
                                 "outputs, labels.float().unsqueeze(1).expand_as(outputs))"),
    "loss_of_wrong_sign": dict(GOOD_LOOP, loss="-criterion(outputs, labels)"),
    "learning_rate_zero": dict(GOOD_LOOP, setup="model.train()\n    for group in optimizer.param_groups:\n"
                                            "        group['lr'] = 0.0"),
    "labels_shuffled": dict(GOOD_LOOP, labels="labels = labels[torch.randperm(len(labels))]"),
    "eval_mode_frozen": dict(GOOD_LOOP, setup="model.eval()\n    for p in model.parameters():\n"
                                          "        p.requires_grad_(False)"),
}
