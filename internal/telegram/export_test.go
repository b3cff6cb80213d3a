package telegram

// SetDrainHook installs a function called at the drain's stages (see
// Processor.hook), so tests can widen the windows between them. Set it
// before the worker starts.
func SetDrainHook(p *Processor, f func(stage string)) { p.hook = f }
