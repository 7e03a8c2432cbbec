package serving

import "fmt"

// ConfigError is a setting that cannot be used as given. Setting is its
// key in the configuration file ("tls", "webhook.unclaimed"), Flag the
// command-line flag that sets it, for advice.
type ConfigError struct {
	Setting, Flag, Problem string
}

func (e *ConfigError) Error() string { return e.Setting + ": " + e.Problem }

func configError(setting, flag, format string, args ...any) error {
	return &ConfigError{Setting: setting, Flag: flag, Problem: fmt.Sprintf(format, args...)}
}
