// FileError: an operating-system failure on a named file (errno and path kept, so Python raises the matching
// OSError subclass: FileNotFoundError, IsADirectoryError, PermissionError, ...).
#pragma once

#include <stdexcept>
#include <string>

namespace agm {

class FileError : public std::runtime_error {
public:
    FileError(int error, std::string path, const std::string& what)
        : std::runtime_error(what), error_(error), path_(std::move(path)) {}
    int error() const { return error_; }
    const std::string& path() const { return path_; }

private:
    int error_;
    std::string path_;
};

}  // namespace agm
